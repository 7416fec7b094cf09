/*
 * grantdesk webhook: a ServiceNow Business Rule that tells grantdesk when an incident or a
 * catalog task grantdesk filed changes state. ServiceNow has no signed outbound webhook of its
 * own, so this rule signs each delivery:
 *
 *   X-Grantdesk-Timestamp: <unix seconds>
 *   X-Grantdesk-Signature: base64(HMAC-SHA256(secret, timestamp + "." + body))
 *
 * The body is the record as the Table API returns it (string values). grantdesk re-reads the
 * record through the Table API before acting, refuses deliveries older than 300 seconds, and
 * ignores records it did not file.
 *
 * Install (see README.md beside this file), in the Global application scope:
 *   Table: incident (and again for sc_task), When: after, Update: checked,
 *   Filter conditions: State changes AND Correlation display is grantdesk, Advanced: checked.
 *   System property x_grantdesk.webhook_url    = https://<api>/webhooks/servicenow
 *   System property x_grantdesk.webhook_secret = the integration's webhook_secret (type password2)
 *
 * The body is sent as pure ASCII (every other character as a JSON \uXXXX escape), so the bytes
 * the MAC covers are the bytes on the wire whatever charset the instance's Java uses for
 * strings; the delivery is asynchronous and never waits, so an agent's save is never held up.
 */
(function executeRule(current, previous) {
    var url = gs.getProperty('x_grantdesk.webhook_url');
    var secret = gs.getProperty('x_grantdesk.webhook_secret'); // a password2 property: read decrypted
    if (!url || !secret) {
        gs.error('grantdesk webhook: x_grantdesk.webhook_url and x_grantdesk.webhook_secret must be set');
        return;
    }
    var record = {
        sys_id: current.getValue('sys_id'),
        number: current.getValue('number'),
        state: current.getValue('state'),
        correlation_id: current.getValue('correlation_id'),
        short_description: current.getValue('short_description'),
        sys_class_name: current.getTableName(),
        sys_updated_on: current.getValue('sys_updated_on')
    };
    var body = JSON.stringify(record).replace(/[\u007f-\uffff]/g, function (c) {
        return '\\u' + ('0000' + c.charCodeAt(0).toString(16)).slice(-4);
    });
    var timestamp = String(Math.floor(new GlideDateTime().getNumericValue() / 1000));
    // generateMac takes the key base64-encoded and returns a base64 MAC.
    var key = GlideStringUtil.base64Encode(secret);
    var signature = new GlideCertificateEncryption().generateMac(key, 'HmacSHA256', timestamp + '.' + body);

    var request = new sn_ws.RESTMessageV2();
    request.setEndpoint(url);
    request.setHttpMethod('POST');
    request.setRequestHeader('Content-Type', 'application/json; charset=utf-8');
    request.setRequestHeader('X-Grantdesk-Timestamp', timestamp);
    request.setRequestHeader('X-Grantdesk-Signature', signature);
    request.setRequestBody(body);
    request.setHttpTimeout(5000);
    try {
        // Fire and forget: waiting here would hold up the agent's save.
        request.executeAsync();
    } catch (e) {
        // The scheduled status sync is the safety net: a lost delivery only delays the update.
        gs.warn('grantdesk webhook failed for ' + record.number + ': ' + e);
    }
})(current, previous);
