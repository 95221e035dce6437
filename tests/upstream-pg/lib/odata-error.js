// OData v4 JSON error response, the shape CAP uses for its own errors.
module.exports = function sendError(res, status, message, extra = {}) {
  res.status(status).json({ error: { code: String(status), message, ...extra } })
}
