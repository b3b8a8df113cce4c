"""Secret formats copied from gitleaks' published rules, for what detect-secrets has no plugin
for (Anthropic, Azure AD client secrets, Google, Hugging Face, Databricks...) or matches only in
part (OpenAI's project keys: its pattern stops 20 characters after ``T3BlbkFJ``).

Source: https://github.com/gitleaks/gitleaks, ``config/gitleaks.toml`` at commit
b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b; each rule keeps its gitleaks id, regex, keywords
(lowercase substrings one of which a match needs: the redaction's guard), entropy (the
Shannon entropy its secret must reach) and secret group. Copied as they are, except where
Python's ``re`` differs from Go's RE2 (``\\z`` is ``\\Z``). Chosen: rules whose secret has
a distinctive prefix, so ordinary dialogue text never matches them (gitleaks' generic rules,
``generic-api-key`` and the like, are left out for that reason).

gitleaks is MIT-licensed:

    MIT License

    Copyright (c) 2019 Zachary Rice

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all
    copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

SOURCE = "https://github.com/gitleaks/gitleaks/blob/b58d3f102cf3a2c84cb7f923d05c25c9b1aed84b/config/gitleaks.toml"


@dataclass(frozen=True)
class GitleaksRule:
    id: str
    regex: str  # as published, RE2 syntax Python's re also reads
    keywords: tuple[str, ...]
    entropy: float = 0.0
    secret_group: int = 1  # gitleaks: the first group if any, else the match

    @property
    def python_regex(self) -> str:
        return self.regex.replace(r"\z", r"\Z")


_END = r"""(?:[\x60'"\s;]|\\[nr]|$)"""

RULES: tuple[GitleaksRule, ...] = (
    GitleaksRule(
        "openai-api-key",
        r"\b(sk-(?:proj|svcacct|admin)-(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})T3BlbkFJ"
        r"(?:[A-Za-z0-9_-]{74}|[A-Za-z0-9_-]{58})\b|sk-[a-zA-Z0-9]{20}T3BlbkFJ[a-zA-Z0-9]{20})"
        + _END,
        ("t3blbkfj",),
        3,
    ),
    GitleaksRule(
        "anthropic-api-key", r"\b(sk-ant-api03-[a-zA-Z0-9_\-]{93}AA)" + _END, ("sk-ant-api03",)
    ),
    GitleaksRule(
        "anthropic-admin-api-key",
        r"\b(sk-ant-admin01-[a-zA-Z0-9_\-]{93}AA)" + _END,
        ("sk-ant-admin01",),
    ),
    GitleaksRule(
        "azure-ad-client-secret",
        r"""(?:^|[\\'"\x60\s>=:(,)])([a-zA-Z0-9_~.]{3}\dQ~[a-zA-Z0-9_~.-]{31,34})"""
        r"""(?:$|[\\'"\x60\s<),])""",
        ("q~",),
        3,
    ),
    GitleaksRule("github-fine-grained-pat", r"github_pat_\w{82}", ("github_pat_",), 3, 0),
    GitleaksRule("gcp-api-key", r"\b(AIza[\w-]{35})" + _END, ("aiza",), 4),
    GitleaksRule("huggingface-access-token", r"\b(hf_(?i:[a-z]{34}))" + _END, ("hf_",), 2),
    GitleaksRule("slack-app-token", r"(?i)xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+", ("xapp",), 2, 0),
    GitleaksRule("databricks-api-token", r"\b(dapi[a-f0-9]{32}(?:-\d)?)" + _END, ("dapi",), 3),
)

# The Basic credentials of gitleaks' ``curl-auth-header`` rule (there inside a curl command:
# ``-H "Authorization: Basic <base64>"``), taken alone: ``Basic[ \t]([a-z0-9+/]{8,}={0,3})``,
# case-insensitive. The redaction also checks that the base64 decodes to ``user:password``.
CURL_BASIC_CREDENTIALS = r"(?i)Basic[ \t]([a-z0-9+/]{8,}={0,3})"


def shannon_entropy(text: str) -> float:
    """Bits per character, as gitleaks measures a secret against a rule's ``entropy``."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())
