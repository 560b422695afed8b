// The API docs page (/schema): Swagger UI served from /static and started here, not in an inline script,
// which the Content-Security-Policy does not allow. The page names the schema's address on the container.
const container = document.getElementById("swagger-container");
window.SwaggerUIBundle({
  url: container.dataset.specUrl,
  domNode: container,
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null, // no badge fetched from swagger.io: the docs work offline
});
