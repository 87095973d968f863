"""The plain way to serve the pipeline, as tutorials do it: Flask, ``joblib.load``, ``predict_proba``.

    PEER_MODEL=model.joblib gunicorn -w 2 -k gthread --threads 2 bench.peer_flask:app

``bench.peers`` runs it beside MLServer and this service, on the same trained
pipeline, so the comparison is about serving, not about the model. It composes
title and text the way the service does (the title twice) so that all three
score the same string.
"""

import os

import joblib
from flask import Flask, jsonify, request

app = Flask(__name__)
pipeline = joblib.load(os.environ["PEER_MODEL"])
labels = [str(label) for label in pipeline.classes_] if hasattr(pipeline, "classes_") else None


@app.post("/predict")
def predict():
    article = request.get_json()
    title = (article.get("title") or "").strip()
    text = "\n".join([title, title, article["text"]]) if title else article["text"]
    scores = pipeline.predict_proba([text])[0]
    return jsonify({"scores": [round(float(s), 4) for s in scores]})


@app.get("/healthz")
def healthz():
    return "ok"
