"""annotation/openai"""
