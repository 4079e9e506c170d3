"""WCO Data Model 3.6 XML: goods declarations (DEC) read into Avance documents and written back,
and customs responses (RES) written for Avance's answers. The schemas are the UK DMS profile of
WCO DM 3.6 (``formats/schemas/wco/``); ``docs/formats/wco.md`` gives the field mapping."""

from avance.formats.wco.dec import ROOT_TAGS, is_dec, read, write, write_one
from avance.formats.wco.res import write_response

__all__ = ["ROOT_TAGS", "is_dec", "read", "write", "write_one", "write_response"]
