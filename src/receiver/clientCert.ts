/** Judging a connection's client certificate: the lab's API server's, or a refusal with its reason. */
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { LabPki } from '../lab/pki.js';

/** What a connection's client certificate allows: the static endpoint, or a refusal with its reason. */
export type CertVerdict = { ok: true } | { ok: false; status: 401 | 403; reason: string };
const CERT_OK: CertVerdict = { ok: true };
/** Extended key usage clientAuth (RFC 5280 id-kp-clientAuth). */
const CLIENT_AUTH_OID = '1.3.6.1.5.5.7.3.2';
/** What a connection authenticated with, as the connection budget shares places between them. */
export const CERT_CREDENTIAL = 'client certificate';

export class ClientCerts {
  /** Each TLS connection's client certificate, judged once (it cannot change on a connection). */
  private readonly verdicts = new WeakMap<TLSSocket, CertVerdict>();
  private readonly ca: X509Certificate;
  /** The subject of the certificate the lab issued to its API server. */
  private readonly clientSubject: string;

  constructor(pki: LabPki) {
    this.ca = new X509Certificate(pki.ca.cert);
    this.clientSubject = new X509Certificate(pki.client.cert).subject;
  }

  /** Whether the connection finished its handshake: every established one has been judged. */
  established(socket: TLSSocket): boolean {
    return this.verdicts.has(socket);
  }

  /**
   * Whether the connection's client certificate is the lab's API server's: present on this very
   * connection (socket.authorized alone is true for a resumed TLS 1.3 session that never had a
   * certificate), chained to the lab CA, for client authentication, and with the subject the lab
   * issued, so no other certificate the lab CA signed (the receiver's own, say) is taken.
   */
  verdict(socket: TLSSocket): CertVerdict {
    let v = this.verdicts.get(socket);
    if (v === undefined) {
      v = this.judge(socket);
      this.verdicts.set(socket, v);
    }
    return v;
  }

  private judge(socket: TLSSocket): CertVerdict {
    const cert = socket.getPeerX509Certificate();
    if (!cert) return { ok: false, status: 401, reason: "the lab's client certificate is required" };
    if (!socket.authorized)
      return {
        ok: false,
        status: 403,
        reason: `client certificate not accepted: ${String(socket.authorizationError ?? 'not signed by the lab CA')}`,
      };
    if (!cert.checkIssued(this.ca) || !cert.verify(this.ca.publicKey))
      return { ok: false, status: 403, reason: 'client certificate not accepted: not issued by the lab CA' };
    if (!(cert.keyUsage ?? []).includes(CLIENT_AUTH_OID))
      return { ok: false, status: 403, reason: 'client certificate not accepted: not for client authentication' };
    if (cert.subject !== this.clientSubject) {
      return {
        ok: false,
        status: 403,
        reason: `client certificate not accepted: subject ${JSON.stringify(cert.subject.replace(/\n/g, ', '))} is not the lab's API server's`,
      };
    }
    return CERT_OK;
  }
}
