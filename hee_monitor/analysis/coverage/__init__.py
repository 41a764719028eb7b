"""Coverage analysis: read coverage reports, compute the HEE metrics, find the gaps worth
testing first and write test skeletons for them."""
