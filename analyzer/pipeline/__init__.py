"""The file pipeline: discover the files, plan how each is read (frontend, compile
flags, pre-filter), analyze each in an isolated worker, cache the outcomes."""
