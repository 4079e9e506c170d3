"""The formats the region's systems exchange, read into Avance's own JSON documents and written
back: WCO Data Model XML, UN/EDIFACT (CUSDEC, CUSCAR, CUSRES), ASYCUDA World SAD XML, and the
column and path mappings an administration edits for its own extracts.

Pure: readers and writers take and give bytes and plain Avance JSON documents (the bodies the API
takes), with no database, so that the API, the importer and ``avance convert`` use the same code.
"""
