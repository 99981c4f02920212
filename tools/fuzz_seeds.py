#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets (fuzz/corpus/<target>/) and their dictionaries (fuzz/dict/).

Run from anywhere: /usr/bin/python3 tools/fuzz_seeds.py. The seeds are small valid (and a few broken) inputs of
each format, written here byte by byte or copied from the repository's own test fixtures, so that the fuzzer
starts inside the format instead of having to discover "{" and the 8-byte safetensors header by chance.
Rerunning rewrites the same files (no randomness). Inputs the fuzzer finds are not kept here: a crash becomes a
named test in tests/hardening/.
"""
import base64
import json
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
DICT = os.path.join(ROOT, "fuzz", "dict")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def copy(target, name, path):
    with open(os.path.join(ROOT, path), "rb") as f:
        write(target, name, f.read())


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes). Returns the file's bytes."""
    header, offset, data = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    os.makedirs(DICT, exist_ok=True)

    # safetensors: every dtype the reader knows, a scalar, an empty tensor, metadata, no padding.
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    write("safetensors", "f32_2x3", safetensors([("w", "F32", [2, 3], f32)]))
    write("safetensors", "mixed", safetensors([("a", "F16", [2], b"\x00\x3c\x00\xc0"), ("b", "BF16", [1, 2], b"\x80\x3f\x00\x40"),
                                                ("c", "F64", [], struct.pack("<d", 0.5)), ("d", "I64", [1], struct.pack("<q", -3)),
                                                ("e", "I32", [0, 4], b""), ("f", "BOOL", [2], b"\x00\x01")],
                                               metadata={"format": "pt"}))
    write("safetensors", "unpadded", safetensors([("x", "I8", [3], b"\x01\x02\x03"), ("y", "U8", [1], b"\xff")], pad=False))
    write("safetensors", "empty_header", safetensors([]))
    write("safetensors", "truncated", safetensors([("w", "F32", [2, 3], f32)])[:-5])

    # JSON: the shapes the library reads (configs, indexes, tokenizers) and the corners of the grammar.
    write("json", "config", open(os.path.join(ROOT, "tests/fixtures/models/llama-gqa-sharded/config.json")).read())
    write("json", "numbers", '[0, -0, 1e308, -1.5E-7, 123456789012345678901234567890, 0.1, 2e-400, 9007199254740993]')
    write("json", "strings", '{"a": "\\u00e9\\ud83d\\ude00\\n\\"", "": "", "b": "caf\u00e9 \u4f60\u597d", "c": null}')
    write("json", "nested", '{"x": [[[[{"y": [true, false, null, {}]}]]]]}')
    write("json", "bad", '{"a": [1, 2,], "b": tru}')

    # config.json of each family: the test checkpoints.
    for family, folders in {"config_llama": ["llama-gqa-sharded", "llama-mqa-f16", "llama-tied-bf16"],
                            "config_bert": ["bert-base-style", "bert-classifier", "bert-model-f16"],
                            "config_t5": ["t5-small-style", "flan-t5-style"]}.items():
        for folder in folders:
            copy(family, folder, f"tests/fixtures/models/{folder}/config.json")
    write("config_llama", "llama3_scaling", json.dumps({
        "model_type": "llama", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
        "num_attention_heads": 2, "num_key_value_heads": 1, "rope_theta": 500000.0, "eos_token_id": [1, 2],
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192}}))

    # The sharded index: the real one, and one that points a tensor at the wrong shard.
    copy("checkpoint_index", "real", "tests/fixtures/models/llama-gqa-sharded/model.safetensors.index.json")
    index = json.load(open(os.path.join(ROOT, "tests/fixtures/models/llama-gqa-sharded/model.safetensors.index.json")))
    index["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors"
    write("checkpoint_index", "wrong_shard", json.dumps(index))

    # tokenizer.json: the repository's tiny tokenizers, and a small byte-level BPE and Unigram of our own.
    copy("tokenizer_json", "tiny_wordpiece", "tests/tokenizers/tiny_wordpiece.json")
    copy("tokenizer_json", "tiny_chat", "tests/chat/tiny_chat_tokenizer.json")
    alphabet = [chr(c) for c in range(ord("!"), ord("~") + 1)] + ["\u0120", "\u010a"]
    bpe_vocab = {t: i for i, t in enumerate(alphabet + ["th", "the", "\u0120t", "\u0120the"])}
    write("tokenizer_json", "byte_level_bpe", json.dumps({
        "added_tokens": [{"id": len(bpe_vocab), "content": "<|endoftext|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": bpe_vocab, "merges": ["t h", "th e", "\u0120 t", "\u0120t he"]}}))
    write("tokenizer_json", "unigram", json.dumps({
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["\u2581", -1.0], ["\u2581the", -2.0], ["a", -3.0], ["t", -3.5]]}}))

    # tiktoken ranks: the 256 bytes and a few merges.
    lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    for rank, token in enumerate([b"th", b"he", b"the", b" the", b"in", b"ing"], start=256):
        lines.append(f"{base64.b64encode(token).decode()} {rank}")
    write("tiktoken", "bytes_and_merges", "\n".join(lines) + "\n")
    write("tiktoken", "short", "IQ== 0\nIg== 1\n")

    # GPT-2's vocab.json, a NUL byte, merges.txt.
    gpt2_vocab = {t: i for i, t in enumerate(alphabet + ["th", "the", "\u0120t", "<|endoftext|>"])}
    write("gpt2_files", "small", json.dumps(gpt2_vocab) + "\0" + "#version: 0.2\nt h\nth e\n\u0120 t\n")

    # vocab.txt: the test checkpoint's and a minimal one.
    copy("vocab_txt", "bert_base_style", "tests/fixtures/models/bert-base-style/vocab.txt")
    write("vocab_txt", "minimal", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##ing\n,\n")

    # Texts to encode (and, read as int32s, ids to decode).
    for target in ["encode_bpe", "encode_wordpiece", "encode_unigram"]:
        write(target, "english", "Hello world! The cat's 123 hats.\n\n  end")
        write(target, "unicode", "caf\u00e9 \u4f60\u597d \U0001F600 \u0301x \u2581")
        write(target, "special", "[CLS] <|endoftext|> <s></s> [MASK]")
        write(target, "ids", struct.pack("<6i", 0, 1, 5, 255, 100257, -1))
        write(target, "invalid_utf8", b"ab\xff\xc3(\xe4\xbd")

    # Chat templates: the repository's feature templates and a Llama/ChatML-style one.
    features = json.load(open(os.path.join(ROOT, "tests/chat/feature_templates.json")))["templates"]
    for t in features:
        write("jinja", t["name"], t["template"])
    write("jinja", "chatml", "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | string + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    write("jinja", "macro_loop", "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{% endif %}{{ n }}{% endmacro %}{{ f(5) }}{% for i in range(3) %}{{ loop.index }}{% endfor %}{% set ns = namespace(x=1) %}{{ ns.x | tojson }}{{ tools | tojson(indent=2) }}")

    # Regex: the split patterns (pattern, NUL, text).
    sample = "Hello world's 12345 caf\u00e9!!\n\n  \u4f60\u597d\tx"
    for name, pattern in {
        "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
        "cl100k": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "o200k": r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        "lazy_groups": r"(a+?)(?:b|c)*\b[x-z]{2,}$|^\d+",
    }.items():
        write("regex", name, pattern + "\0" + sample)

    # Dictionaries (libFuzzer's -dict): the keywords of each format.
    dictionaries = {
        "json": ['"{"', '"}"', '"["', '"]"', '":"', '","', '"true"', '"false"', '"null"', '"\\\\u"', '"\\\\ud800"', '"1e"', '"-0."'],
        "safetensors": ['"__metadata__"', '"dtype"', '"shape"', '"data_offsets"', '"F32"', '"F16"', '"BF16"', '"F64"', '"I64"',
                        '"I32"', '"I16"', '"I8"', '"U8"', '"BOOL"', '"F8_E4M3"', '"F8_E5M2"', '"\\x00\\x00\\x00\\x00\\x00\\x00\\x00"'],
        "jinja": ['"{%"', '"%}"', '"{{"', '"}}"', '"{#"', '"#}"', '"{%-"', '"-%}"', '"for"', '"endfor"', '"if"', '"elif"', '"else"',
                  '"endif"', '"set"', '"endset"', '"macro"', '"endmacro"', '"call"', '"filter"', '"namespace"', '"loop.index"',
                  '"messages"', '"message[\'role\']"', '"|tojson"', '"|join"', '"|map"', '"|selectattr"', '"range("', '"raise_exception("',
                  '"is defined"', '"not in"', '"~"', '"**"', '"//"'],
        "regex": ['"\\\\p{L}"', '"\\\\p{N}"', '"\\\\p{Lu}"', '"\\\\s"', '"\\\\S"', '"\\\\d"', '"\\\\w"', '"\\\\b"', '"(?i:"', '"(?:"',
                  '"(?!"', '"(?="', '"[^"', '"{1,3}"', '"+?"', '"*?"', '"|"', '"$"', '"^"'],
        "tokenizer_json": ['"\\"type\\""', '"\\"model\\""', '"\\"vocab\\""', '"\\"merges\\""', '"\\"BPE\\""', '"\\"WordPiece\\""',
                           '"\\"Unigram\\""', '"\\"WordLevel\\""', '"\\"ByteLevel\\""', '"\\"Metaspace\\""', '"\\"Sequence\\""',
                           '"\\"normalizer\\""', '"\\"pre_tokenizer\\""', '"\\"decoder\\""', '"\\"post_processor\\""',
                           '"\\"added_tokens\\""', '"\\"TemplateProcessing\\""', '"\\"Split\\""', '"\\"Precompiled\\""',
                           '"\\"byte_fallback\\""', '"\\"unk_token\\""', '"\\"special\\""', '"\\"content\\""'],
    }
    dictionaries["checkpoint_index"] = ['"\\"weight_map\\""', '"\\"model-00001-of-00002.safetensors\\""',
                                        '"\\"model-00002-of-00002.safetensors\\""', '"\\"lm_head.weight\\""', '"\\"model.norm.weight\\""',
                                        '"\\"config.json\\""', '"\\"..\\""', '"\\"/\\""']
    dictionaries["config"] = dictionaries["json"] + ['"\\"model_type\\""', '"\\"llama\\""', '"\\"bert\\""', '"\\"t5\\""',
                                                     '"\\"vocab_size\\""', '"\\"hidden_size\\""', '"\\"num_attention_heads\\""',
                                                     '"\\"num_key_value_heads\\""', '"\\"head_dim\\""', '"\\"rope_scaling\\""',
                                                     '"\\"rope_type\\""', '"\\"factor\\""', '"\\"d_model\\""', '"\\"d_kv\\""',
                                                     '"\\"feed_forward_proj\\""', '"\\"gated-gelu\\""', '"\\"id2label\\""',
                                                     '"\\"eos_token_id\\""', '"\\"tie_word_embeddings\\""']
    for name, words in dictionaries.items():
        with open(os.path.join(DICT, name + ".dict"), "w") as f:
            f.write("# libFuzzer dictionary, written by tools/fuzz_seeds.py\n")
            for w in words:
                f.write(w + "\n")


if __name__ == "__main__":
    main()
