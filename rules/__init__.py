"""API models: the kernel API knowledge of kref-lint, as data.

Each ``*.toml`` file here holds facts such as "``folio_try_get`` takes a speculative
reference on its argument when it returns true".  ``analyzer.models`` loads and validates
them; checkers look every API up through it and never name one in their logic.
"""
