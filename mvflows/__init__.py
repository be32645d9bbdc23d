"""mvflows: screening of multivalent-battery cathodes on atomate2/jobflow."""

__version__ = "0.1.0"
