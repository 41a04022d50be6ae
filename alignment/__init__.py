"""alignment: a calibration and review workbook for sales and marketing lead agreements."""

__version__ = "0.1.0"
