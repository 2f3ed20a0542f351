"""The numbers the documents quote from benchmarks/results equal what the results give."""

from __future__ import annotations

import json

import pytest

from lrkit import cli
from lrkit.bench import quotes


def test_every_number_the_documents_quote_matches_the_committed_results():
    docs = quotes.documents()
    assert quotes.quoted(docs), "no quoted number found: the documents lost their quotes"
    bad = quotes.check(docs)
    assert not bad, "\n".join(map(str, bad))


def test_a_quote_that_drifted_from_the_results_is_caught_and_fixed(tmp_path):
    true = quotes.evaluate('final("smith2017-table1/paper", "fixed")')
    doc = tmp_path / "doc.md"
    doc.write_text(f'fixed ends at {true + 0.5:.2f}<!--q final("smith2017-table1/paper", "fixed")--> %\n'
                   f'and at {true:.1f} <!--q final("smith2017-table1/paper", "fixed")--> %.\n')
    bad = quotes.check([doc])
    assert len(bad) == 1 and bad[0].line == 1 and bad[0].computed == f"{true:.2f}"
    assert cli.main(["bench", "quotes", str(doc)]) == 1
    assert quotes.fix([doc]) == 1 and not quotes.check([doc])
    assert f"{true:.2f}<!--q" in doc.read_text()


def test_quotes_in_notebook_markdown_are_checked(tmp_path):
    call = 'seeds("smith2017-table1/paper", "decay")'
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [f"seeds: 1<!--q {call}-->"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert len(quotes.quoted([path])) == 1 and not quotes.check([path])
    nb["cells"][0]["source"] = [f"seeds: 2<!--q {call}-->"]
    path.write_text(json.dumps(nb))
    assert [m.computed for m in quotes.check([path])] == ["1"]


@pytest.mark.parametrize("call", ['open("x")', 'final("smith2017-table1/paper", "nope")', "1 +", 'final(x)',
                                  'reach_ratio("smith2017-table1/paper", "triangular2", "fixed", 7)'])
def test_only_the_listed_calls_with_literal_arguments_are_evaluated(call):
    with pytest.raises((ValueError, KeyError)):
        quotes.evaluate(call)
