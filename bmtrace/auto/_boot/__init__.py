"""Holds the sitecustomize.py that `bmtrace record --auto` puts on the recorded program's PYTHONPATH."""
import os

DIRECTORY = os.path.dirname(os.path.abspath(__file__))
