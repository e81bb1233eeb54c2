"""hqnn-pl: hybrid quantum-classical image classifiers and their classical counterparts."""

__version__ = "0.1.0"
