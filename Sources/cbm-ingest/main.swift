print("cbm-ingest")
