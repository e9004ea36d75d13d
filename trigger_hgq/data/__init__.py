"""Datasets: ROOT loading through dataset cards, jet features and the event generator for the shipped files."""
