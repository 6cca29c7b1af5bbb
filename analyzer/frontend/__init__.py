"""Frontends: turn C source into :mod:`analyzer.ir` ``SourceFile`` objects.

These modules are the only ones in kref-lint that import ``clang.cindex`` or
``tree_sitter``; nothing past a frontend ever sees a cursor or a syntax-tree node.

* :mod:`analyzer.frontend.treesitter` -- raw source, macro tolerant, no flags needed;
* :mod:`analyzer.frontend.clang` -- libclang, precise, needs compile flags.

Import the submodule you need: this package itself imports nothing heavy, so worker
processes only pay for the frontend they use.
"""
