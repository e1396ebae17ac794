"""reflectlab.selfplay: loops that manufacture their own training signal, measured against a ground truth they never see."""
