"""Running a node: backing it up and restoring it (``avance backup``, ``avance restore``)."""
