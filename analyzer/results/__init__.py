"""What a run found, independent of how it is reported: file outcomes, the run result,
finding identity (fingerprints, line hashes, display columns), in-source suppressions and
baselines."""
