"""HTTPRangeSource and remote GGUF reads against a local pytest-httpserver."""

from __future__ import annotations

import socket

import pytest
from fixtures.models.gen import make_gguf
from werkzeug.wrappers import Response

from llmfit_core.errors import AuthRequiredError, HeaderTooLargeError, NotFoundError, OfflineError
from llmfit_core.readers.gguf import read_gguf, read_gguf_url
from llmfit_core.readers.source import HTTPRangeSource


@pytest.fixture(scope="module")
def big_vocab_gguf(tmp_path_factory):
    # 20k-token vocabulary, weights ~10x the header: the header is what must be transferred
    path = make_gguf(tmp_path_factory.mktemp("h") / "m.gguf", n_layers=2, hidden=256, vocab=20000)
    return path.read_bytes()


def _serve(httpserver, path, data, honour_range=True, sent=None):
    def handler(request):
        rng = request.headers.get("Range")
        if honour_range and rng and rng.startswith("bytes="):
            a, b = rng[6:].split("-")
            a, b = int(a), min(int(b), len(data) - 1)
            body = data[a:b + 1]
            sent.append(len(body))
            return Response(body, status=206, headers={"Content-Range": f"bytes {a}-{b}/{len(data)}"})

        def gen():  # stream the whole file, counting what actually leaves the server
            for i in range(0, len(data), 16384):
                sent.append(16384)
                yield data[i:i + 16384]
        return Response(gen(), status=200, headers={"Content-Length": str(len(data))}, direct_passthrough=True)
    httpserver.expect_request(path).respond_with_handler(handler)
    return httpserver.url_for(path)


def test_range_reads_only_the_header(httpserver, big_vocab_gguf):
    sent = []
    url = _serve(httpserver, "/m.gguf", big_vocab_gguf, sent=sent)
    spec = read_gguf(url)
    local_offset = spec.metadata["gguf.data_offset"]
    assert spec.vocab_size == 20000 and spec.file_bytes == len(big_vocab_gguf)
    read = spec.metadata["gguf.header_bytes_read"]
    assert read == sum(sent)  # the source counts exactly what was transferred
    assert read < 1.3 * local_offset + 64 * 1024 and read < len(big_vocab_gguf) / 4
    assert spec.weight_bytes == read_gguf_bytes(big_vocab_gguf).weight_bytes


def read_gguf_bytes(data):
    from llmfit_core.readers.source import MemorySource
    return read_gguf(MemorySource(data))


def test_range_ignored_is_capped(httpserver, big_vocab_gguf):
    sent = []
    url = _serve(httpserver, "/norange.gguf", big_vocab_gguf, honour_range=False, sent=sent)
    # enough cap: parsed from the stream, only as far as needed
    src = HTTPRangeSource(url, headers={}, max_bytes=len(big_vocab_gguf))
    spec = read_gguf(src)
    assert spec.vocab_size == 20000 and src.bytes_read < len(big_vocab_gguf) / 2
    # a cap below the header: HeaderTooLargeError, and we stopped reading at the cap
    src = HTTPRangeSource(url, headers={}, max_bytes=50_000)
    with pytest.raises(HeaderTooLargeError):
        read_gguf(src)
    assert src.bytes_read <= 50_000


def test_cap_with_range(httpserver, big_vocab_gguf):
    url = _serve(httpserver, "/c.gguf", big_vocab_gguf, sent=[])
    with pytest.raises(HeaderTooLargeError, match="more than 30000 bytes"):
        read_gguf_url(url, headers={}, max_bytes=30_000)


def test_http_errors(httpserver):
    httpserver.expect_request("/gated.gguf").respond_with_data("no", status=401)
    httpserver.expect_request("/forbidden.gguf").respond_with_data("no", status=403)
    httpserver.expect_request("/missing.gguf").respond_with_data("no", status=404)
    with pytest.raises(AuthRequiredError, match="hf auth login") as e:
        read_gguf(httpserver.url_for("/gated.gguf") + "?token=secret")
    assert "secret" not in str(e.value) and e.value.status == 401
    with pytest.raises(AuthRequiredError, match="HF_TOKEN"):
        read_gguf(httpserver.url_for("/forbidden.gguf"))
    with pytest.raises(NotFoundError, match="404"):
        read_gguf(httpserver.url_for("/missing.gguf"))


def test_connection_refused_is_offline():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(OfflineError, match="cannot reach 127.0.0.1"):
        read_gguf(f"http://127.0.0.1:{port}/x.gguf")


def test_split_remote(httpserver, tmp_path):
    import gguf
    import numpy as np
    w = gguf.GGUFWriter(str(tmp_path / "s.gguf"), "llama", split_max_tensors=3)
    w.add_block_count(1)
    for i in range(5):
        w.add_tensor(f"blk.0.t{i}.weight", np.ones((2, 32), dtype=np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    for p in tmp_path.glob("s-*.gguf"):
        _serve(httpserver, "/" + p.name, p.read_bytes(), sent=[])
    spec = read_gguf(httpserver.url_for("/s-00001-of-00002.gguf"))
    assert spec.params == 5 * 64 and len(spec.files) == 2


@pytest.fixture(scope="module")
def bpe_gguf(tmp_path_factory):
    """A gpt2-style tokenizer header (tokens, token types, merges, then more keys) of ~1 MB."""
    import random

    import gguf
    import numpy as np
    rng = random.Random(0)
    vocab = 30000

    def tok(i):
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzĠ") for _ in range(2 + i * 10 // vocab + rng.randint(0, 3)))
    path = tmp_path_factory.mktemp("bpe") / "bpe.gguf"
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_block_count(2); w.add_embedding_length(64); w.add_head_count(2); w.add_head_count_kv(1)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([tok(i) for i in range(vocab)])
    w.add_token_types([1] * vocab)
    w.add_token_merges([tok(i) + " " + tok(i) for i in range(vocab - 256)])
    w.add_bos_token_id(7)
    w.add_chat_template("{{ messages }}" * 100)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tensor("token_embd.weight", np.zeros((vocab, 64), np.float32))
    for i in range(2):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((64, 64), np.float32))
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.zeros(64, np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return path.read_bytes()


def test_big_string_arrays_are_skipped_remotely(httpserver, bpe_gguf):
    sent = []
    url = _serve(httpserver, "/bpe.gguf", bpe_gguf, sent=sent)
    remote = read_gguf(url)
    local = read_gguf_bytes(bpe_gguf)
    header = local.metadata["gguf.data_offset"]
    assert header > 500_000
    assert sum(sent) < header / 4  # tokens and merges were not transferred
    assert remote.tensors == local.tensors and remote.weight_bytes == local.weight_bytes
    assert remote.vocab_size == 30000 and remote.metadata["gguf.data_offset"] == header
    assert remote.metadata["tokenizer.ggml.bos_token_id"] == 7  # keys after the skipped arrays are still read
    assert remote.quant == "F32"


def test_skip_falls_back_when_the_file_does_not_validate(httpserver, bpe_gguf):
    # a file with trailing garbage fails the end-of-file check: the reader walks the strings instead
    data = bpe_gguf + bytes(4096)
    sent = []
    url = _serve(httpserver, "/bpe2.gguf", data, sent=sent)
    remote = read_gguf(url)
    assert remote.tensors == read_gguf_bytes(bpe_gguf).tensors
    assert sum(sent) > remote.metadata["gguf.data_offset"] * 0.9


def test_wrong_content_range_rejected(httpserver):
    from llmfit_core.errors import RemoteError
    httpserver.expect_request("/bad.gguf").respond_with_data(b"GGUF" + bytes(100), status=206, headers={
        "Content-Range": "bytes 500-603/10000"})
    with pytest.raises(RemoteError, match="asked for 0"):
        read_gguf(httpserver.url_for("/bad.gguf"))
