// Credentials never leave memory: a tracking URI may carry them
// (http://user:password@host), but what run-exp writes or prints (the run
// folder's config.yaml, MLflow params, the spool, logs, messages) has the
// password masked; the client takes them out of the URI and sends them as a
// header, as MLflow's own client does.

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i;

/** The URI without its user info, and the user name and password it held. */
export function splitCredentials(uri: string): { uri: string; username?: string; password?: string } {
  const m = USERINFO.exec(uri);
  if (!m) return { uri };
  const [user = '', pass] = (m[2] as string).split(/:(.*)/s);
  return {
    uri: uri.replace(USERINFO, '$1'),
    username: decodeURIComponent(user),
    ...(pass === undefined ? {} : { password: decodeURIComponent(pass) }),
  };
}

/** `uri` as it may be shown: a password in it replaced by ***. */
export function redactUri(uri: string): string {
  return uri.replace(USERINFO, (_, scheme: string, info: string) => {
    const user = info.split(':')[0] ?? '';
    return `${scheme}${user}${info.includes(':') ? ':***' : ''}@`;
  });
}

/** A copy of `value` (a resolved experiment) with every URI's password masked. */
export function redactUris<T>(value: T): T {
  if (typeof value === 'string') return redactUri(value) as T;
  if (Array.isArray(value)) return value.map(redactUris) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactUris(v)])) as T;
  return value;
}
