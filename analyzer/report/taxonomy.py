"""How each rule is classified for code scanning: its CWE weaknesses and its
``security-severity`` (a CVSS-like score GitHub maps to critical >= 9.0, high >= 7.0,
medium >= 4.0, low), in the reports' own vocabulary (SARIF rule ``properties``, JSON).

Why each choice (kernel terms):

* ``try-get-without-ref`` -- a get on a page whose last reference may be dropped
  concurrently revives a freed page: use after free (CWE-416) by a wrong reference count
  update (CWE-911).
* ``speculative-get-unvalidated`` -- the object may have been freed and reused between the
  lockless read and the get; not re-checking is a time-of-check/time-of-use race
  (CWE-367) ending in a use after free (CWE-416).
* ``speculative-ref-leak`` -- the reference taken on the wrong object is never dropped:
  reference count not updated (CWE-911), the page is never freed (CWE-401).
* ``page-ref-leak`` -- a reference kept on some path is a missing release of a counted
  resource (CWE-911): the page can never be freed, a memory leak (CWE-401).
* ``io-without-accessible`` -- I/O before ``arch_make_folio_accessible()`` or without a
  reference: operations in the wrong order (CWE-696) racing with the page's reuse
  (CWE-362); on s390 protected guests the host faults on a secure page.
* ``hotplug-teardown-unsynced`` -- memmap or page tables freed while lockless walkers
  still read them: CWE-416 through a race (CWE-362).
* ``racy-refcount-check`` -- a decision on an exact count that a speculative reference
  changes at any time: a race (CWE-362), checked then used (CWE-367).
* ``spurious-refcount-warn`` -- a WARN that a concurrent speculative get can trip: a
  reachable assertion (CWE-617; a panic with ``panic_on_warn``) from a race (CWE-362).

A rule must be listed here to be reported with its classification; the tests fail for a
rule that is not.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Classification:
    cwe: tuple[str, ...]             # "CWE-416", ...
    security_severity: str           # "7.5": a string, as GitHub wants it

    def tags(self) -> list[str]:
        """SARIF rule tags code scanning understands: ``security`` and one
        ``external/cwe/cwe-N`` per weakness."""
        return ["security", *(f"external/cwe/{c.lower()}" for c in self.cwe)]


CLASSIFICATION: dict[str, Classification] = {
    "try-get-without-ref": Classification(("CWE-416", "CWE-911"), "7.5"),
    "speculative-get-unvalidated": Classification(("CWE-367", "CWE-416"), "7.5"),
    "speculative-ref-leak": Classification(("CWE-911", "CWE-401"), "5.5"),
    "page-ref-leak": Classification(("CWE-911", "CWE-401"), "5.5"),
    "io-without-accessible": Classification(("CWE-696", "CWE-362"), "6.5"),
    "hotplug-teardown-unsynced": Classification(("CWE-416", "CWE-362"), "7.0"),
    "racy-refcount-check": Classification(("CWE-362", "CWE-367"), "6.3"),
    "spurious-refcount-warn": Classification(("CWE-617", "CWE-362"), "4.7"),
}


def classification(rule_id: str) -> Classification | None:
    return CLASSIFICATION.get(rule_id)


def problem_severity(level: str) -> str:
    """SARIF ``problem.severity`` (what GitHub shows for non-security queries) for a
    rule's level: ``error``, ``warning``, or ``recommendation`` for ``note``."""
    return {"error": "error", "warning": "warning"}.get(level, "recommendation")
