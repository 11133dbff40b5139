"""report.md and the printed summary, from the results alone (pure: the same results give the same text).

Every measured-vs-target row comes from bench.targets; the prose states what was measured and how.
"""

from __future__ import annotations

import math
from typing import Any

from bench.build import growth
from bench.latency import WARMUP
from bench.targets import SERVER_CLIENTS, judge, target
from qa.config import Config

VERDICT = {True: "met", False: "**missed**", None: "not measured"}


def fmt(value: Any, digits: int = 1) -> str:
    """A figure for reading: thousands separators, `digits` decimals for floats, yes/no, – when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _measured(row: dict[str, Any]) -> str:
    unit = target(row["key"]).unit if row["measured"] is not None else ""
    return fmt(row["measured"], 2) + unit


def summary_table(results: dict[str, Any]) -> str:
    """The targets as a plain-text table (what `qa bench` prints)."""
    lines = [f"{'target':<78} {'measured':>12}  result"]
    for row in judge(results):
        verdict = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        lines.append(f"{row['target']:<78} {_measured(row):>12}  {verdict}")
    out_dir = (results.get("options") or {}).get("out_dir", "the results folder")
    lines.append(f"load average (1/5/15 min) at start {(results.get('loadavg') or {}).get('start')}, "
                 f"written to {out_dir}/results.json and report.md")
    return "\n".join(lines)


def render_report(results: dict[str, Any], plots: list[str]) -> str:
    """report.md: the run, the targets, then one section per measurement that ran."""
    out = _header(results) + _targets(results) + _missed(results) + _build(results) + _warm(results, plots)
    out += _cold(results) + _server(results, plots) + _scale(results, plots)
    return "\n".join(out) + "\n"


def _header(r: dict[str, Any]) -> list[str]:
    m = r["machine"]
    v = m.get("versions", {})
    return [
        "# Performance benchmark (`qa bench`)",
        "",
        f"Run {m['date']} on {m['cpus']} CPUs / {m['memory_gb']} GB, {m['platform']}, Python {m['python']}, "
        f"commit {m['commit']}; torch {v.get('torch')}, onnxruntime {v.get('onnxruntime')}, faiss "
        f"{v.get('faiss-cpu')}, gradio {v.get('gradio')}. Whole run {fmt(r.get('wall_s'), 0)} s. Every number is in "
        "`results.json`.",
        "",
        "Load average (1, 5, 15 min) at each step: "
        + "; ".join(f"{k} {v}" for k, v in (r.get("loadavg") or {}).items()) + ".",
    ]


def _targets(r: dict[str, Any]) -> list[str]:
    out = ["", "## Targets", "", "| target | measured | result |", "| --- | --- | --- |"]
    out += [f"| {row['target']} | {_measured(row)} | {VERDICT[row['met']]} |" for row in judge(r)]
    return out


def _missed(r: dict[str, Any]) -> list[str]:
    """For each missed target, the measurements that make it up."""
    missed = {row["key"] for row in judge(r) if row["met"] is False}
    notes = []
    w, c, s = r.get("warm") or {}, r.get("cold") or {}, r.get("server") or {}
    if missed & {"warm_p95_ms", "warm_ratio"}:
        st, total = w["stages"], w["ask"]["total"]
        rest = st["retrieve_without_embedding"]["p50"] + st["prepare"]["p50"] + st["format"]["p50"]
        notes.append(
            f"- **Warm latency**: p95 {total['p95']:.1f} ms (target {target('warm_p95_ms').bound}); total / bare "
            f"encoding {w['ratio_total_to_embedding_p50']}× at p50. At p50 the query encoding takes "
            f"{st['embedding']['p50']:.1f} of {total['p50']:.1f} ms and everything else together {rest:.1f} ms "
            f"(dense {st['dense']['p50']:.2f}, sentences {st['sentences']['p50']:.2f}, BM25 {st['bm25']['p50']:.2f}, "
            f"fusion {st['fusion']['p50']:.2f}, select {st['select']['p50']:.2f}, prepare {st['prepare']['p50']:.2f}, "
            f"format {st['format']['p50']:.2f}); the bare encoding alone has p95 {w['bare_embedding']['p95']:.1f} ms "
            f"in the same loop. Load average after this step: {r['loadavg'].get('after_warm')}.")
    if "cold_ratio" in missed:
        notes.append(
            f"- **Cold `qa ask`**: {c['ask']['median_s']:.2f} s against the floor's {c['floor']['median_s']:.2f} s "
            f"= {c['ratio_ask_to_floor']}× (target {target('cold_ratio').bound}); runs "
            f"{', '.join(f'{x:.2f}' for x in c['ask']['wall_s'])} s; against floor + one encode "
            f"({c['floor_encode']['median_s']:.2f} s): {c['ratio_ask_to_floor_with_encode']}×.")
    if missed & {"server_qps", "server_p95_ms", "server_errors", "server_overload"}:
        top = next((lv for lv in s["levels"] if lv["clients"] == SERVER_CLIENTS), s["levels"][-1])
        qps = max(top["qps"], 1e-9)
        text = (
            f"- **Server**: {top['qps']:.1f} answered/s and p95 {top['latency_ms']['p95']:.0f} ms at "
            f"{top['clients']} clients (targets {target('server_qps').bound} and {target('server_p95_ms').bound}), "
            f"{sum(lv['errors'] for lv in s['levels'])} errors. Answered/s by concurrent clients: "
            + ", ".join(f"{lv['clients']} → {lv['qps']:.1f}" for lv in s["levels"])
            + f". {top['clients']} requests in flight at {top['qps']:.1f}/s make a mean latency of "
            f"{top['clients'] / qps * 1000:.0f} ms (Little's law).")
        prof = s.get("profile")
        if prof:
            shares = ", ".join(f"{k} {v:.0%}" for k, v in prof["shares"].items())
            text += f" The server's busy CPU by library (py-spy, all threads, `{prof['file']}`): {shares}."
        notes.append(text)
    if "server_rss_mb" in missed:
        notes.append(f"- **Server RSS**: peak {s['peak_rss_mb']:.0f} MB (target {target('server_rss_mb').bound}).")
    points = [p for p in (r.get("scale") or {}).get("points", []) if "error" not in p]
    if points and missed & {"scale_p95_ms", "scale_recall"}:
        big = max(points, key=lambda p: p["size"])
        q = big["query_ms"]
        text = (
            f"- **{big['size']:,} chunks**: query p95 {q['total']['p95']:.1f} ms (target "
            f"{target('scale_p95_ms').bound}), of which the embedding p95 "
            f"{q['embedding']['p95']:.1f} ms and the search (dense + BM25 + fusion) p95 {q['search']['p95']:.1f} ms "
            f"(dense {q['dense']['p95']:.2f}, BM25 {q['bm25']['p95']:.2f}); recall@10 at the shipped efSearch "
            f"{big.get('ef_search')}: {big['recall_at_10']:.3f} (target {target('scale_recall').bound}); exact "
            f"search p95 {big['exact_search_ms']['p95']:.1f} ms.")
        sweep = big.get("hnsw_sweep") or []
        if sweep:
            text += " efSearch sweep: " + "; ".join(
                f"{e['ef_search']} → recall {e['recall_at_10']:.3f}, p95 {e['search_ms']['p95']:.2f} ms" for e in sweep
            ) + "."
        notes.append(text)
    large = r.get("large_build")
    if "scale_build_rss_mb" in missed and large:
        notes.append(f"- **{fmt(large['chunks'], 0)}-passage `qa build`**: peak {large['peak_rss_mb']:,.0f} MB "
                     f"(target {target('scale_build_rss_mb').bound}).")
    return ["", "## Missed targets: what the measurements show", "", *notes] if notes else []


def _builds(r: dict[str, Any]) -> list[dict[str, Any]]:
    """The builds of the shipped corpora, then the large written corpus's when it was measured."""
    large = [r["large_build"]] if isinstance(r.get("large_build"), dict) else []
    return [b for b in r.get("build") or [] if isinstance(b, dict)] + large


def _build(r: dict[str, Any]) -> list[str]:
    builds = _builds(r)
    if not builds:
        return []
    out = [
        "", "## Index build", "",
        "`qa build` of each corpus in a fresh process: wall time and peak RSS from the kernel; the stages' seconds "
        "from the index manifest (index: parse, chunk, embed every passage and sentence) and from "
        "`index/learned/manifest.json` (each learned model, and the questions made and trained on).", "",
        "| corpus | pages | passages | sentences | questions made | hand-written | encoder trained on | FAISS | "
        "wall s | CPU s | peak RSS MB | index MB | learned MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for b in builds:
        q = b["questions"]
        out.append(
            f"| {b['name']} | {fmt(b['pages'])} | {fmt(b['chunks'])} | {fmt(b['sentences'])} | {fmt(q['made'])} | "
            f"{fmt(q['hand_written'])} | {fmt(q['encoder_training'])} | {b['faiss_type']} | {fmt(b['wall_s'])} | "
            f"{fmt(b.get('cpu_s'))} | "
            f"{fmt(b['peak_rss_mb'], 0)} | {fmt(b['disk_mb'], 2)} | {fmt(b['learned_disk_mb'], 1)} |")
    large = r.get("large_build")
    if isinstance(large, dict):
        made, ask = large.get("corpus_made") or {}, large.get("ask") or {}
        out += ["", f"The {large['name']} corpus ({large.get('measured', '')}, `qa bench --large-build "
                f"{large.get('target_chunks')}`) is {fmt(made.get('pages'), 0)} pages written from the shipped "
                f"corpora's own {fmt(made.get('real_sentences'), 0)} sentences under their "
                f"{fmt(made.get('real_headings'), 0)} headings (seed {made.get('seed')}), built by the real "
                f"`qa build` end to end; a `qa ask` on it afterwards {'answered' if ask.get('ok') else 'FAILED'} "
                f"in {fmt(ask.get('wall_s'))} s at {fmt(ask.get('peak_rss_mb'), 0)} MB peak. Its sentences repeat "
                "(a text seen before is embedded once and its vector reused), so its embedding time is less than a "
                "corpus of distinct sentences would take; its memory is that of any corpus this size (every "
                "passage and sentence vector is stored)."]
    stages = {"index": "index", "encoder": "encoder", "reranker": "reranker", "scope_model": "scope model",
              "topic_model": "topic model", "learned_total": "learned, total"}
    out += ["", "Seconds of each stage:", "", "| corpus | " + " | ".join(stages.values()) + " |",
            "| --- |" + " --- |" * len(stages)]
    out += [f"| {b['name']} | " + " | ".join(fmt(b["stage_s"].get(k)) for k in stages) + " |" for b in builds]
    learning = builds[0].get("learning") or {}
    epochs = learning.get("adapt_epochs")
    out += ["", "How build time grows: the index stage per 1,000 sentences embedded, the encoder stage per 1,000 "
            f"training questions ({fmt(epochs)} epochs over each); the last row divides the difference between two "
            "builds, which leaves out each stage's fixed part (such as loading the model), and is left blank for the "
            "encoder when both trained on about as many questions. The encoder's time also grows with the passages "
            "and sentences each question is contrasted with (all of them up to `QA_NEGATIVES`, then a sample).", "",
            "| corpus | index s per 1,000 sentences | encoder s per 1,000 training questions |", "| --- | --- | --- |"]
    out += [f"| {g['name']} | {fmt(g['index_s_per_1k_sentences'], 2)} | {fmt(g['encoder_s_per_1k_questions'], 2)} |"
            for g in growth(builds)]
    if learning.get("train_limit") is not None:
        out += ["", f"Questions made from the pages are capped at {fmt(learning.get('synthetic_questions'))} and the "
                f"encoder trains on at most {fmt(learning['train_limit'])} (`QA_SYNTHETIC_QUESTIONS`, "
                "`QA_TRAIN_LIMIT`; hand-written ones first)."]
    return out


def _warm(r: dict[str, Any], plots: list[str]) -> list[str]:
    w = r.get("warm")
    if not w:
        return []
    out = [
        "", "## Warm query latency", "",
        f"{w['questions']} evaluation questions after {WARMUP} warm-up asks, query-vector cache disabled, "
        f"questions encoded by {w.get('query_runtime', 'torch')} (intra-op threads: {w.get('encoder_threads')}). "
        "Each stage is timed on its own right after the ask, and a bare encode of the question (the same encoder, "
        "no cache) right after that, so machine noise hits all three alike.", "",
        "| stage | p50 ms | p95 ms | max ms |", "| --- | --- | --- | --- |",
    ]
    rows = [
        ("**ask total**", w["ask"]["total"]),
        ("prepare (clean, follow-up, expansion)", w["stages"]["prepare"]),
        ("retrieve (as timed by ask)", w["ask"]["retrieve"]),
        ("· query embedding", w["stages"]["embedding"]),
        ("· dense passage search", w["stages"]["dense"]),
        ("· dense sentence search", w["stages"]["sentences"]),
        ("· BM25", w["stages"]["bm25"]),
        ("· RRF fusion", w["stages"]["fusion"]),
        ("· select (reranker features and score, overlaps, confidence)", w["stages"]["select"]),
        ("format answer", w["stages"]["format"]),
        ("**bare query embedding** (floor)", w["bare_embedding"]),
    ]
    out += [f"| {name} | {fmt(s['p50'], 2)} | {fmt(s['p95'], 2)} | {fmt(s['max'], 2)} |" for name, s in rows]
    out += ["", f"Total / bare embedding: **{w['ratio_total_to_embedding_p50']}×** at p50, "
            f"{w['ratio_total_to_embedding_p95']}× at p95."]
    if "warm_stages.png" in plots:
        out += ["", "![warm stages](warm_stages.png)"]
    if w.get("profile"):
        out += ["", f"Profile of all asks: [`{w['profile']}`]({w['profile']})."]
    return out


def _cold(r: dict[str, Any]) -> list[str]:
    c = r.get("cold")
    if not c:
        return []
    out = ["", "## Cold start", "",
           "Wall time of fresh processes (median of the runs; all runs interleaved) and their peak RSS.", "",
           "| process | median s | runs (s) | peak RSS MB |", "| --- | --- | --- | --- |"]
    for key, name in (("python", "`python -c pass`"), ("floor", "**floor**: import sentence_transformers + load model"),
                      ("floor_encode", "floor + one encode"), ("ask", '**`qa ask "..."`**')):
        s = c[key]
        out.append(f"| {name} | {s['median_s']:.2f} | {', '.join(f'{x:.2f}' for x in s['wall_s'])} | "
                   f"{s['peak_rss_mb']:.0f} |")
    imp = c["import_qa"]
    out += ["", f"`qa ask` / floor = **{c['ratio_ask_to_floor']}×** (against floor + one encode: "
            f"{c['ratio_ask_to_floor_with_encode']}×). `import qa; from qa import Config` takes {imp['wall_s']:.2f} s "
            "and loads: " + ", ".join(f"{m} {'yes' if v else 'no'}" for m, v in imp["modules"].items()) + "."]
    if c.get("profile"):
        out += ["", f"Profile of one cold `qa ask`: [`{c['profile']}`]({c['profile']})."]
    return out


def _server(r: dict[str, Any], plots: list[str]) -> list[str]:
    s = r.get("server")
    if not s:
        return []
    o = r["options"]
    out = [
        "", "## Chat server", "",
        f"`python app.py` on 127.0.0.1:{s['port']}: HTTP up after **{s['http_ready_s']:.1f} s**, first `/ask` "
        f"answered after **{s['first_answer_s']:.1f} s** (idle RSS {s['idle_rss_mb']:.0f} MB, peak "
        f"{s['peak_rss_mb']:.0f} MB).", "",
        f"Load: client threads in the benchmark process on the same {r['machine']['cpus']} CPUs as the server, "
        f"{o['requests']} requests or {o['time_cap']:.0f} s per level, whichever comes first; every question is "
        "numbered to make it unique, so the server's query-vector cache never hits. `http` = bare httpx against "
        "Gradio's REST API (`POST /gradio_api/call/ask`, then its event stream; the targets are judged on it); "
        "`gradio_client` = the official Python client (`Client(url).predict(q, [], api_name=\"/ask\")`).", "",
        "| client | concurrent | answered | errors | answered/s | p50 ms | p95 ms | max ms | server RSS MB | "
        "load before |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    levels = s["levels"] + s.get("levels_gradio_client", [])
    for lv in levels:
        lat = lv["latency_ms"]
        out.append(f"| {lv['client']} | {lv['clients']} | {lv['answered']} | {lv['errors']} | {lv['qps']:.1f} | "
                   f"{fmt(lat['p50'])} | {fmt(lat['p95'])} | {fmt(lat['max'])} | {fmt(lv['server_rss_max_mb'], 0)} | "
                   f"{lv['loadavg_before'][0]} |")
    prof = s.get("profile")
    if prof:
        out += ["", f"Server busy CPU by library (py-spy over every server thread during an extra burst of "
                f"{prof['answered']} answers, not counted above; [`{prof['file']}`]({prof['file']})): "
                + ", ".join(f"{k} **{v:.0%}**" for k, v in prof["shares"].items()) + "."]
    sweep = r.get("concurrency") or []
    if sweep:
        shipped = Config().serving.concurrency
        out += ["", f"Questions answered at once (`QA_CONCURRENCY`; shipped: {shipped}), one fresh server per "
                "setting, HTTP clients, the same request counts:", "",
                "| QA_CONCURRENCY | concurrent clients | answered | errors | answered/s | p50 ms | p95 ms | max ms | "
                "server RSS MB |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for row in sweep:
            lat = row["latency_ms"]
            out.append(f"| {row['concurrency']} | {row['clients']} | {row['answered']} | {row['errors']} | "
                       f"{row['qps']:.1f} | {fmt(lat['p50'])} | {fmt(lat['p95'])} | {fmt(lat['max'])} | "
                       f"{fmt(row['server_rss_max_mb'], 0)} |")
    samples = [e for lv in levels for e in lv["error_samples"]]
    if samples:
        out += ["", "Error samples: " + "; ".join(f"`{e}`" for e in samples[:3])]
    if "concurrency.png" in plots:
        out += ["", "![concurrency](concurrency.png)"]
    return out


def _scale(r: dict[str, Any], plots: list[str]) -> list[str]:
    sc = r.get("scale")
    if not sc:
        return []
    builds = _builds(r)
    per_chunk = ""
    if builds and builds[0].get("chunks"):
        b = builds[0]
        per_chunk = f" (the {b['name']} index holds {b['sentences'] / b['chunks']:.1f} sentence vectors per passage)"
    out = [
        "", "## Scale (synthetic corpora)", "",
        f"Corpus: {sc['method']} (seed {sc['seed']}). Query: {sc['measured']}, in a fresh process per size. Not "
        f"included: the sentence-level dense run{per_chunk}, the query preparation and answer formatting (timed in "
        "the warm section).", "",
        "Build and memory (the model is loaded only after the build, so *build peak* is the index's own):", "",
        "| chunks | FAISS | build s (generate / FAISS / BM25 / save) | disk MB | RSS before MB | index resident MB | "
        "build peak MB | with model MB | process peak MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    good = [p for p in sc["points"] if "error" not in p]
    for p in sc["points"]:
        if "error" in p:
            out.append(f"| {p['size']:,} | failed: `{p['error'][-160:]}` |" + " |" * 7)
            continue
        bs, m = p["build_s"], p["rss_mb"]
        out.append(f"| {p['size']:,} | {p['faiss_type']} | {bs['total']:.1f} ({bs['generate']:.1f} / "
                   f"{bs['faiss']:.1f} / {bs['bm25']:.1f} / {bs['save']:.1f}) | {p['disk_mb']['total']:.1f} | "
                   f"{m['start']:.0f} | {m['index_resident']:.0f} | {m['build_peak']:.0f} | {m['with_model']:.0f} | "
                   f"{p['process_peak_rss_mb']:.0f} |")
    out += ["", "Query latency over the evaluation questions (ms) and recall of the chosen FAISS index against exact "
            "search (IndexFlatIP over the same vectors):", "",
            "| chunks | embedding p95 | dense p95 | BM25 p50 / p95 | search p95 (no embedding) | **query p50 / p95** | "
            "exact FAISS p95 | recall@10 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in good:
        q = p["query_ms"]
        out.append(f"| {p['size']:,} | {q['embedding']['p95']:.1f} | {q['dense']['p95']:.2f} | "
                   f"{q['bm25']['p50']:.2f} / {q['bm25']['p95']:.2f} | {q['search']['p95']:.2f} | "
                   f"{q['total']['p50']:.1f} / {q['total']['p95']:.1f} | {p['exact_search_ms']['p95']:.2f} | "
                   f"{p['recall_at_10']:.3f} |")
    for p in good:
        if p.get("hnsw_sweep"):
            out += ["", f"HNSW efSearch at {p['size']:,} chunks (M {fmt(p.get('hnsw_m'))}, efConstruction "
                    f"{fmt(p.get('ef_construction'))}; shipped efSearch {p['ef_search']}), single-query search at "
                    f"depth {fmt(p.get('depth'))}:", "",
                    "| efSearch | search p50 ms | search p95 ms | recall@10 |", "| --- | --- | --- | --- |"]
            out += [f"| {e['ef_search']} | {e['search_ms']['p50']:.2f} | {e['search_ms']['p95']:.2f} | "
                    f"{e['recall_at_10']:.3f} |" for e in p["hnsw_sweep"]]
    for name, alt in (("scale_latency.png", "latency vs size"), ("scale_memory.png", "memory vs size")):
        if name in plots:
            out += ["", f"![{alt}]({name})"]
    return out

