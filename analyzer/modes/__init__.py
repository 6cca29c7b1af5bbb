"""The ways kref-lint is run, as peers: ``check`` (paths), ``diff`` (``--diff REV``),
``patch`` (``check-patch``), ``kbuild`` (``make C=1/C=2 CHECK=kref-lint``); plus the
settings they share (configuration file merged with the command line) and the console
(progress, diagnostics, output files)."""
