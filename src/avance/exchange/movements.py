"""Export-import matching and SIGMAT-style transit (scaffold: filled in by its owner).

Importing this module registers its inbox handlers.
"""

from __future__ import annotations
