"""Knowledge: parse uploaded documents, chunk them, index the chunks, search them.

Pipeline (one item): ``sniffing.detect_kind`` → ``parsing.parse_document`` (one
``parsers`` module per type) → ``chunking.chunk_document`` → ``embeddings`` (only when
the workspace configured a model) → ``index.KnowledgeIndex.add_chunks``.
``services.knowledge`` owns the rules (who may upload, collections, dedupe, status) and
``knowledge.ingest`` runs the pipeline in the background.
"""
