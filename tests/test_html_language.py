"""Issue 19: article HTML in, language detected and refused when confident, IPTC codes out.

Every page and every foreign-language article here was written for these
tests; none is copied from a real site.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.html import ExtractionError, extract
from runtime import language
from runtime.language import MIN_COVERAGE, detect
from runtime.model import TopicModel

ROOT = Path(__file__).resolve().parent.parent

TITLE = "Ministers agree to cut steel tariffs after talks in Geneva"
BODY = [
    "Trade ministers from the two countries agreed on Tuesday to cut tariffs on steel and aluminium imports "
    "by half over three years, ending a dispute that had weighed on exports since last spring.",
    "Under the deal, quotas on steel shipments will be lifted in stages, and both sides will drop the "
    "complaints they filed with the World Trade Organization. Exporters welcomed the agreement.",
    "Officials said customs duties on farm goods would be discussed at a second round of talks next month, "
    "and that the new import quotas would be reviewed every year.",
]
CLEAN = "\n".join(BODY)


def news_page(title: str = TITLE, paragraphs: list[str] = BODY) -> str:
    """A saved news page: navigation, cookie banner, related links and footer around the article."""
    nav = "".join(f"<li><a href='/{s.lower()}'>{s}</a></li>" for s in
                  ["Home", "World", "Business", "Sport", "Weather", "Markets", "Health", "Subscribe"])
    paras = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{title} | The Example Courier</title><meta property="og:title" content="{title}"></head>
<body><header><nav><ul>{nav}</ul></nav></header>
<div class="cookie-banner">We use cookies to improve your experience and show football scores, weather
forecasts and market prices. <button>Accept all cookies</button></div>
<main><article><h1>{title}</h1><p class="byline">By A. Reporter, 4 December 2026</p>{paras}</article>
<aside><h2>Most read</h2><ul><li><a href="/a">Storm warning for the weekend</a></li>
<li><a href="/b">League leaders win again</a></li></ul></aside></main>
<footer><p>Copyright 2026 The Example Courier. All rights reserved.</p><a href="/privacy">Privacy</a>
<a href="/contact">Contact us</a></footer></body></html>"""


NAV_ONLY = """<html><head><title>Sections | The Example Courier</title></head><body><nav><ul>
<li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/business">Business</a></li>
</ul></nav><footer><a href="/privacy">Privacy</a> <a href="/contact">Contact</a></footer></body></html>"""

FOREIGN = {
    "fr": "Les ministres des Affaires étrangères des deux pays se sont réunis mardi à Genève pour discuter "
          "des droits de douane sur l'acier. Selon les responsables, les négociations ont été constructives "
          "et un nouvel accord commercial pourrait être signé avant la fin de l'année.",
    "es": "Los ministros de Comercio de ambos países se reunieron el martes en Ginebra para hablar de los "
          "aranceles sobre el acero. Según los funcionarios, las conversaciones fueron constructivas y un "
          "nuevo acuerdo podría firmarse antes de fin de año.",
    "de": "Die Handelsminister beider Länder trafen sich am Dienstag in Genf, um über Zölle auf Stahl zu "
          "sprechen. Nach Angaben der Beamten verliefen die Gespräche konstruktiv, und ein neues Abkommen "
          "könnte noch vor Jahresende unterzeichnet werden.",
    "ar": "اجتمع وزيرا التجارة في البلدين يوم الثلاثاء في جنيف لمناقشة الرسوم الجمركية على الصلب. وقال "
          "المسؤولون إن المحادثات كانت بناءة وإن اتفاقا تجاريا جديدا قد يوقع قبل نهاية العام.",
    "zh": "两国贸易部长星期二在日内瓦会晤，讨论钢铁关税问题。官员表示，会谈富有建设性，双方可能在年底前"
          "签署一项新的贸易协定。两国还同意在下个月举行第二轮会谈，讨论农产品关税和进口配额。",
}


def post_html(client, page: str, query: str = ""):
    return client.post(f"/v1/classify{query}", data=page.encode(), content_type="text/html; charset=utf-8")


# -- HTML in ----------------------------------------------------------------

def test_a_saved_page_gets_the_topics_of_its_clean_text(seed_client):
    clean = seed_client.post("/v1/classify", json={"title": TITLE, "text": CLEAN}).get_json()
    page = post_html(seed_client, news_page())
    assert page.status_code == 200, page.get_json()
    answer = page.get_json()
    assert clean["topics"], "the clean text should have topics for this comparison to mean anything"
    assert [t["label"] for t in answer["topics"]] == [t["label"] for t in clean["topics"]]
    assert answer["extracted"]["title"] == TITLE
    assert answer["extracted"]["characters"] == pytest.approx(len(CLEAN), rel=0.05)
    assert "text" not in answer["extracted"]


def test_the_html_field_and_return_text(seed_client):
    answer = seed_client.post("/v1/classify", json={"html": news_page(), "return_text": True, "id": 7}).get_json()
    assert answer["id"] == 7
    text = answer["extracted"]["text"]
    assert BODY[0] in text and "cookies" not in text and "Copyright" not in text and "Most read" not in text


def test_the_batch_takes_html_and_text_side_by_side(seed_client):
    response = seed_client.post("/v1/classify/batch", json={"articles": [
        {"html": news_page()}, {"title": TITLE, "text": CLEAN}]})
    assert response.status_code == 200
    a, b = response.get_json()["results"]
    assert [t["label"] for t in a["topics"]] == [t["label"] for t in b["topics"]]
    assert "extracted" in a and "extracted" not in b


@pytest.mark.parametrize("send", ["body", "field", "batch"])
def test_a_page_that_is_all_navigation_is_a_422(seed_client, send):
    if send == "body":
        response = post_html(seed_client, NAV_ONLY)
        field = "html"
    elif send == "field":
        response = seed_client.post("/v1/classify", json={"html": NAV_ONLY})
        field = "html"
    else:
        response = seed_client.post("/v1/classify/batch", json={"articles": [{"html": NAV_ONLY}]})
        field = "articles[0].html"
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["field"] == field and "No article text" in problem["detail"]


@pytest.mark.parametrize("record", [{"html": 3}, {"html": "<p>x</p>", "text": "x"}, {"html": ""}])
def test_bad_html_fields_are_422(seed_client, record):
    assert seed_client.post("/v1/classify", json=record).status_code == 422


# -- hostile pages ----------------------------------------------------------

HOSTILE = {
    "deep nesting": "<div>" * 200_000 + "text" + "</div>" * 200_000,
    "unclosed nesting": "<html><body>" + "<span><b><i>" * 100_000 + BODY[0],
    "huge attribute": f"<html><body><div title=\"{'a' * 1_500_000}\"><p>{BODY[0]}</p></div></body></html>",
    "entity bomb": ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
                              for i in range(10))
                    + "]><html><body><p>&lol9;</p><p>" + BODY[0] + "</p></body></html>"),
    "broken markup": "<html><body><p>" + BODY[0] + "<p><<<>>><div</span></table><tr><td>" + BODY[1],
    "binary junk": "\x00\x01\x02<html>\ufffe\x7f" * 1000,
    "too large": "<p>" + "word " * 500_000 + "</p>",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_pages_are_bounded_and_never_a_5xx(seed_client, name):
    start = time.perf_counter()
    response = post_html(seed_client, HOSTILE[name])
    elapsed = time.perf_counter() - start
    assert response.status_code in {200, 413, 422}, response.get_json()
    assert response.is_json
    assert elapsed < 10, f"{name} took {elapsed:.1f} s"
    if name == "entity bomb" and response.status_code == 200:
        assert "lollollol" not in post_html(seed_client, HOSTILE[name], "?return_text=true") \
            .get_json()["extracted"]["text"]


def test_the_size_cap_comes_before_parsing():
    with pytest.raises(ExtractionError, match="limit"):
        extract("<p>" + "x" * 100 + "</p>", max_chars=50)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.text(max_size=30),
                    lambda inner: st.builds(lambda tag, attrs, kids: f"<{tag} {attrs}>{''.join(kids)}</{tag}>",
                                            st.sampled_from(["div", "p", "article", "nav", "script", "table", "x"]),
                                            st.text(max_size=20), st.lists(inner, max_size=4)),
                    max_leaves=40))
def test_any_markup_extracts_or_says_why(page):
    try:
        result = extract(page)
    except ExtractionError:
        return
    assert result.text.strip()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000) | st.text(max_size=3000).map(str.encode))
def test_any_bytes_as_text_html_are_a_documented_answer(seed_client, raw):
    response = seed_client.post("/v1/classify", data=raw, content_type="text/html")
    assert response.status_code in {200, 422}
    assert response.is_json


# -- languages --------------------------------------------------------------

@pytest.mark.parametrize("code", sorted(FOREIGN))
def test_other_languages_are_not_supported_and_get_no_topics(seed_client, code):
    response = seed_client.post("/v1/classify", json={"text": FOREIGN[code]})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["language"] == code
    assert answer["language_supported"] is False
    assert answer["topics"] == []


@pytest.mark.parametrize("code", sorted(FOREIGN))
def test_the_strict_option_makes_them_a_422(seed_client, code):
    response = seed_client.post("/v1/classify?strict_language=true", json={"text": FOREIGN[code]})
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"].endswith("unsupported-language") and code in problem["detail"]


def test_strict_in_a_batch_names_the_article(seed_client):
    response = seed_client.post("/v1/classify/batch", json={
        "articles": [{"text": CLEAN}, {"text": FOREIGN["de"]}], "strict_language": True})
    assert response.status_code == 422 and response.get_json()["field"] == "articles[1]"


def test_a_foreign_page_in_html_is_not_supported(seed_client):
    page = news_page("Accord sur l'acier", [FOREIGN["fr"]])
    answer = post_html(seed_client, page).get_json()
    assert answer["language"] == "fr" and answer["language_supported"] is False and answer["topics"] == []


def test_english_is_supported(seed_client):
    answer = seed_client.post("/v1/classify", json={"title": TITLE, "text": CLEAN}).get_json()
    assert answer["language"] == "en" and answer["language_supported"] is True


# More paragraphs, for the vocabulary rule only (the detector tests above keep to FOREIGN).
FURTHER = {
    "it": "I ministri del commercio dei due paesi si sono incontrati martedì a Ginevra per discutere dei dazi "
          "sull'acciaio. Secondo i funzionari, i colloqui sono stati costruttivi.",
    "pt": "Os ministros do comércio dos dois países reuniram-se na terça-feira em Genebra para discutir as "
          "tarifas sobre o aço. Segundo as autoridades, as conversas foram construtivas.",
    "nl": "De handelsministers van beide landen kwamen dinsdag in Genève bijeen om over heffingen op staal te "
          "praten. Volgens ambtenaren waren de gesprekken constructief.",
    "id": "Para menteri perdagangan kedua negara bertemu pada hari Selasa di Jenewa untuk membahas tarif baja. "
          "Menurut para pejabat, pembicaraan berlangsung konstruktif.",
    "tr": "İki ülkenin ticaret bakanları salı günü Cenevre'de bir araya gelerek çelik gümrük vergilerini "
          "görüştü. Yetkililere göre görüşmeler yapıcı geçti.",
    "pl": "Ministrowie handlu obu krajów spotkali się we wtorek w Genewie, aby omówić cła na stal. Według "
          "urzędników rozmowy były konstruktywne.",
    "sw": "Mawaziri wa biashara wa nchi hizo mbili walikutana Jumanne mjini Geneva kujadili ushuru wa chuma. "
          "Kwa mujibu wa maafisa, mazungumzo yalikuwa ya kujenga.",
}


def test_other_languages_know_too_few_of_the_models_words_to_skip_the_detector(seed_models):
    model = TopicModel.load(seed_models / "current")
    texts = {**FOREIGN, **FURTHER}
    coverage = 1 - model.unknown_share(list(texts.values()))
    assert max(coverage) < MIN_COVERAGE, dict(zip(texts, coverage.round(2)))
    english = 1 - model.unknown_share(BODY, [TITLE] * len(BODY))
    assert min(english) >= MIN_COVERAGE


def test_an_english_headline_over_a_foreign_body_is_still_refused(seed_client):
    """The title counts twice in the scored text, so an English headline lifts a German body's known words."""
    title = "Bank of England raises interest rates"
    body = ("Die Bank von England hat am Donnerstag den Leitzins erneut angehoben, um die Inflation in "
            "Großbritannien zu bremsen. Analysten in London hatten mit dem Schritt gerechnet.")
    answer = seed_client.post("/v1/classify", json={"title": title, "text": body}).get_json()
    assert answer["language"] == "de" and answer["language_supported"] is False and answer["topics"] == []


def test_the_detector_is_asked_only_about_articles_the_model_does_not_plainly_read(seed_client, monkeypatch):
    asked = []
    real = language._identifier()

    class Spy:
        def rank(self, text):
            asked.append(text)
            return real.rank(text)

    monkeypatch.setattr(language, "_identifier", lambda: Spy())
    answer = seed_client.post("/v1/classify", json={"title": TITLE, "text": CLEAN}).get_json()
    assert answer["language"] == "en" and answer["language_supported"] is True and asked == []
    answer = seed_client.post("/v1/classify", json={"text": FURTHER["it"]}).get_json()
    assert answer["language_supported"] is False and len(asked) == 1
    answer = seed_client.post("/v1/classify/batch", json={"articles": [
        {"text": CLEAN}, {"text": FURTHER["pl"]}, {"text": FOREIGN["fr"]}]}).get_json()
    assert [r["language_supported"] for r in answer["results"]] == [True, False, False] and len(asked) == 3


def _seed_headlines() -> list[str]:
    titles = []
    for path in sorted((ROOT / "seeds" / "articles").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            title = json.loads(line).get("title")
            if title and len(title.split()) >= 5:
                titles.append(" ".join(title.split()[:5]))
    return titles


def test_five_word_english_headlines_are_not_refused():
    headlines = _seed_headlines()
    assert len(headlines) > 3000
    refused = [h for h in headlines if not detect(h).supported]
    # Measured: 0 of 4,125 (BENCHMARKS.md, bench.language); the raw detector alone names
    # another language for about a fifth of them.
    assert len(refused) / len(headlines) < 0.002, refused[:10]


def test_a_short_foreign_headline_is_not_trusted_either_way():
    assert detect("Accord sur l'acier").supported


# -- IPTC codes and the bundle's languages ----------------------------------

def test_labels_carry_iptc_codes_and_the_languages(seed_client):
    body = seed_client.get("/v1/labels").get_json()
    assert body["languages"] == ["en"]
    codes = {item["label"]: item["codes"] for item in body["labels"]}
    assert {c["code"] for c in codes["diplomacy"]} == {"20000639", "20000638"}
    assert codes["economy"][0] == {"scheme": "iptc-mediatopic", "code": "20000344", "label": "economy",
                                   "uri": "http://cv.iptc.org/newscodes/mediatopic/20000344"}
    assert all(codes.values())


def test_answers_carry_the_codes_when_asked(seed_client):
    plain = seed_client.post("/v1/classify", json={"title": TITLE, "text": CLEAN}).get_json()
    coded = seed_client.post("/v1/classify", json={"title": TITLE, "text": CLEAN, "codes": True}).get_json()
    assert all("codes" not in t for t in plain["topics"])
    assert coded["topics"] and all(t["codes"] for t in coded["topics"])
    assert "20000373" in {c["code"] for t in coded["topics"] for c in t["codes"]}


# -- training and the offline batch -----------------------------------------

FRENCH_WORDS = {
    "sport": "match but attaquant championnat entraîneur stade saison coupe arbitre supporters gardien".split(),
    "marches": "actions indice investisseurs obligations rendement devise bénéfice bourse dividende hausse".split(),
}
FRENCH_FILLER = "le la les des une dans pour avec selon mardi après cette ville déclaré semaine".split()


def _french_corpus(path: Path) -> Path:
    import random

    rng = random.Random(3)
    lines = []
    for label, words in FRENCH_WORDS.items():
        for i in range(25):
            text = " ".join(rng.sample(words, 8) + rng.sample(FRENCH_FILLER, 10))
            lines.append(json.dumps({"id": f"{label}-{i}", "text": f"{text}. {FOREIGN['fr']}", "labels": [label]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_training_records_another_languages_corpus(tmp_path):
    from runtime.model import TopicModel
    from tests.conftest import train_into

    bundle = train_into(tmp_path / "models", [_french_corpus(tmp_path / "fr.jsonl")])
    model = TopicModel.load(bundle)
    assert model.languages == ["fr"]
    assert detect(FOREIGN["fr"], model.languages).supported
    assert not detect(CLEAN, model.languages).supported


def test_training_takes_the_languages_it_is_told(tmp_path, toy_corpus):
    from runtime.model import TopicModel
    from tests.conftest import train_into

    bundle = train_into(tmp_path / "models", [toy_corpus], languages=["en", "de"])
    assert TopicModel.load(bundle).manifest["languages"] == ["en", "de"]


def test_training_reads_html_fields_and_html_files(tmp_path):
    from training.corpus import read_corpus

    (tmp_path / "c.jsonl").write_text(json.dumps({"id": "p", "html": news_page(), "labels": ["trade"]}) + "\n")
    (tmp_path / "folders" / "trade").mkdir(parents=True)
    (tmp_path / "folders" / "trade" / "page.html").write_text(news_page(), encoding="utf-8")
    for source in [tmp_path / "c.jsonl", tmp_path / "folders"]:
        [doc] = read_corpus([source]).documents
        assert doc.title == TITLE and BODY[0] in doc.text and "cookies" not in doc.text


def test_training_names_a_page_without_text(tmp_path):
    from training.corpus import CorpusError, read_corpus

    (tmp_path / "c.jsonl").write_text(json.dumps({"id": "p", "html": NAV_ONLY, "labels": ["trade"]}) + "\n")
    with pytest.raises(CorpusError, match="html.*No article text"):
        read_corpus([tmp_path / "c.jsonl"])


def test_the_offline_batch_reads_html_and_reports_languages(tmp_path, seed_models):
    from batch.local import run_local
    from runtime.model import TopicModel

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "page", "html": news_page()}, {"id": "clean", "title": TITLE, "text": CLEAN},
        {"id": "fr", "text": FOREIGN["fr"]}, {"id": "nav", "html": NAV_ONLY}]), encoding="utf-8")
    run_local(TopicModel.load(seed_models / "current"), source, tmp_path / "out.jsonl", workers=1)
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert rows["page"]["topics"] and [t["label"] for t in rows["page"]["topics"]] == \
        [t["label"] for t in rows["clean"]["topics"]]
    assert rows["fr"]["language_supported"] is False and rows["fr"]["topics"] == []
    assert "No article text" in rows["nav"]["error"]


def test_detection_can_be_switched_off(seed_models):
    from service import create_app

    client = create_app({"TESTING": True, "TOPICS_MODEL_DIR": str(seed_models),
                         "TOPICS_DETECT_LANGUAGE": False}).test_client()
    answer = client.post("/v1/classify", json={"text": FOREIGN["fr"]}).get_json()
    assert "language" not in answer and "language_supported" not in answer


def test_check_codes_against_a_vocabulary_file(tmp_path, capsys):
    from training.check_codes import main

    taxonomy = json.loads((ROOT / "seeds" / "labels.json").read_text())
    concepts = [{"uri": c["uri"], "qcode": f"medtop:{c['code']}", "prefLabel": {"en-GB": c["label"]}}
                for entries in taxonomy["codes"].values() for c in entries]
    vocabulary = tmp_path / "cptall-en-GB.json"
    vocabulary.write_text(json.dumps({"conceptSet": concepts}))
    assert main([str(ROOT / "seeds" / "labels.json"), "--vocabulary", str(vocabulary)]) == 0
    concepts[0]["prefLabel"]["en-GB"] = "something else"
    concepts[1]["retired"] = "2020-01-01"
    vocabulary.write_text(json.dumps({"conceptSet": concepts[:-1]}))
    assert main([str(ROOT / "seeds" / "labels.json"), "--vocabulary", str(vocabulary)]) == 1
    out = capsys.readouterr().out
    assert "something else" in out and "retired" in out and "not in the vocabulary" in out


def test_the_seed_codes_agree_with_the_vendored_iptc_subset(tmp_path, capsys):
    from training.check_codes import VOCABULARY, main, read_vocabulary

    subset = json.loads(VOCABULARY.read_text())
    assert "CC BY 4.0" in subset["note"]["en-US"] and subset["licenceLink"].endswith("/by/4.0/")
    uris = {c["uri"] for c in subset["conceptSet"]}
    assert all(b in uris for c in subset["conceptSet"] for b in c.get("broader", []))  # ancestors are kept
    assert main([str(ROOT / "seeds" / "labels.json")]) == 0
    assert read_vocabulary(VOCABULARY)["20000598"]["labels"] == ["defense"]
    # The mistake the first mapping made: 20000598 is defense; national security is 20000604.
    taxonomy = json.loads((ROOT / "seeds" / "labels.json").read_text())
    taxonomy["codes"]["security"] = [{"scheme": "iptc-mediatopic", "code": "20000598", "label": "national security",
                                      "uri": "http://cv.iptc.org/newscodes/mediatopic/20000598"}]
    wrong = tmp_path / "labels.json"
    wrong.write_text(json.dumps(taxonomy))
    capsys.readouterr()
    assert main([str(wrong)]) == 1
    assert "20000598 is 'defense' in the vocabulary, not 'national security'" in capsys.readouterr().out
    # British spelling in an en-GB file: a mismatch alone, a match when both files are given.
    british = json.loads(VOCABULARY.read_text())
    for concept in british["conceptSet"]:
        concept["prefLabel"] = {"en-GB": concept["prefLabel"]["en-US"].replace("defense", "defence")}
    gb = tmp_path / "cptall-en-GB.json"
    gb.write_text(json.dumps(british))
    labels = str(ROOT / "seeds" / "labels.json")
    assert main([labels, "--vocabulary", str(gb)]) == 1
    assert "20000598 is 'defence' in the vocabulary, not 'defense'" in capsys.readouterr().out
    assert main([labels, "--vocabulary", str(gb), "--vocabulary", str(VOCABULARY)]) == 0


def test_the_detector_loads_without_a_writable_temporary_folder(monkeypatch, tmp_path):
    import tempfile

    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    from runtime import language

    reference = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
    missing = tmp_path / "no-such-folder"  # what a read-only container's full /tmp amounts to
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    language._identifier.cache_clear()
    try:
        identifier = language._identifier()
        for text in ("Biden and Xi meet in Lima to talk about tariffs", "Le président a rencontré son homologue"):
            assert identifier.rank(text)[:3] == reference.rank(text)[:3]
    finally:
        language._identifier.cache_clear()


def test_streamed_bundles_record_languages_and_codes_too(tmp_path):
    from runtime.model import TopicModel
    from training.options import TrainOptions
    from training.pipeline import Hyperparameters
    from training.streaming import StreamingOptions
    from training.train import train

    folder = tmp_path / "corpus"
    folder.mkdir()
    _french_corpus(folder / "fr.jsonl")
    codes = {label: [{"scheme": "iptc-mediatopic", "code": f"2000{k:04d}", "label": label,
                      "uri": f"http://cv.iptc.org/newscodes/mediatopic/2000{k:04d}"}]
             for k, label in enumerate(FRENCH_WORDS)}
    (folder / "labels.json").write_text(json.dumps({"labels": {label: label for label in FRENCH_WORDS},
                                                    "codes": codes}), encoding="utf-8")
    stream = StreamingOptions(hash_bits=16, epochs=5, batch_size=16, shuffle_buffer=50)
    model = TopicModel.load(train(TrainOptions(data=[folder], out=tmp_path / "models", quiet=True,
                                               params=Hyperparameters(min_df=1), streaming=stream)))
    assert model.manifest["training"]["mode"] == "streaming"
    assert model.languages == ["fr"]
    assert model.codes == codes
