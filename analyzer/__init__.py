"""kref-lint: a static analyzer for page/folio reference-count and ordering bugs in
Linux kernel C (mm/, virt/kvm/), reporting SARIF 2.1.0."""

__version__ = "0.1.0"
