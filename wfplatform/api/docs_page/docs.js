// Starts Swagger UI with the settings the page carries as JSON: the page has no inline
// script, so its Content-Security-Policy can refuse every script not served from here.
window.addEventListener("load", function () {
  var settings = document.getElementById("swagger-ui-settings").textContent;
  window.ui = SwaggerUIBundle(JSON.parse(settings));
});
