"""Tests of bmtrace.explain: diagnoses on real cv2 / PIL / torchvision output."""
