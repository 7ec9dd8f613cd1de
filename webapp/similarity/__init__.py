"""Similar maps: the index of every stored vector and the questions asked of it (r: ``workers/similarity.py``)."""
