"""Assessment Export Dashboard: get assessment results out as tables, originals and drawn images.

Data flows one way: ``store`` -> ``query`` -> producers (``layouts``) -> ``ui`` | ``cli`` | routes.
"""

__version__ = "0.1.0"
