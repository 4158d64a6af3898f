/** GitHub's REST API root (GitHub.com), the default of a GitHub target's `baseUrl`; this module imports nothing. */
export const GITHUB_API = 'https://api.github.com';
