"""Goldens ⇄ AI GO!: the dialogues as an AI GO! run config (`export aigo`), AI GO!'s evaluation
evidence as dialogues (`import aigo`), and a local stand-in for AI GO!'s runner (tests,
scripts/aigo_standin.py)."""
