"""The jet-tagging pipeline: stages, resumable state, serial or Dask execution, selection under a budget."""
