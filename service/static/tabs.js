// The demo page's views (classify, review, model card) as tabs, chosen by the URL's #fragment, so a view can be
// linked to and the browser's back button works.
"use strict";

const VIEWS = {classify: null, review: () => openReview(), card: () => showCard()};

function showView() {
  const wanted = location.hash.slice(1);
  const name = Object.hasOwn(VIEWS, wanted) ? wanted : "classify";
  for (const view of Object.keys(VIEWS)) {
    const on = view === name;
    document.getElementById("view-" + view).hidden = !on;
    document.getElementById("tab-" + view).setAttribute("aria-selected", String(on));
  }
  if (VIEWS[name]) VIEWS[name]();
}

window.addEventListener("hashchange", showView);
showView();
