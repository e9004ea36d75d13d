"""Generating the jet-tagging dataset with Pythia: event chunks (:mod:`.pythia_jets`), the jet features
(:mod:`.features`), the output ROOT file and its card (:mod:`.jetfile`) and the ``trigger-hgq data generate``
command (:mod:`.generate`)."""
