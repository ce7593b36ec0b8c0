"""Annotators: given pairs, return K judgements per pair, each recorded in raw.llm_calls."""
