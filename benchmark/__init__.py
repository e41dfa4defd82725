"""busbench: an honest benchmark harness for breast-ultrasound image analysis."""

__version__ = "0.1.0"
