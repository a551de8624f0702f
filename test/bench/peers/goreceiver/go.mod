module auditlab.local/benchpeer

go 1.22
