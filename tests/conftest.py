"""Suite-wide settings: property tests draw the same examples on every run, so CI cannot fail by chance."""
try:
    from hypothesis import settings
except ImportError:  # hypothesis comes with the dev extra; tests that need it skip without it
    pass
else:
    settings.register_profile("bmtrace", derandomize=True)
    settings.load_profile("bmtrace")
