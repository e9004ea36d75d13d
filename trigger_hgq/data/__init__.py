"""Datasets: dataset cards, ROOT loaders, public formats, the jet generator and a synthetic stand-in."""
