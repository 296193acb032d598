"""Rujukan: the interagency referral service between Imipas prisons and Kemensos."""

__version__ = "0.1.0"
