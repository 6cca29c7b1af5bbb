"""Output of an analysis: SARIF 2.1.0 (:mod:`.sarif`) and gcc-style text (:mod:`.text`)."""
