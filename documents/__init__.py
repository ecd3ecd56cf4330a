"""Documents: upload, extraction, chunking, embedding and indexing of the users' files."""
