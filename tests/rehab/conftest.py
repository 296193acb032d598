from tests.rehab.support import case

__all__ = ["case"]
