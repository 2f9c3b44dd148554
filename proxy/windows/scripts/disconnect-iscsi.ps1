# Undoes connect-iscsi.ps1 for one presentation: logs out each iSCSI session the presentation's
# record says it opened (Disconnect-IscsiTarget -SessionIdentifier, learn.microsoft.com/powershell/module/iscsi/disconnect-iscsitarget),
# unless another presentation's record lists the same session: that presentation then owns it and
# logs it out when it is detached. Sessions found already connected are never touched. Removes the
# record. Idempotent: no record, or a session already gone, is success. Run after the disks are offline.
# Argument (JSON): { "recordFile": string, "recordsDir": string }
param([string]$InputJson)
$ErrorActionPreference = 'Stop'
$in = $InputJson | ConvertFrom-Json

$mutex = [System.Threading.Mutex]::new($false, 'Global\hvsnap-iscsi')
# a holder that died without releasing leaves the mutex abandoned: WaitOne then owns it and throws to say so
try { $owned = $mutex.WaitOne(120000) } catch [System.Threading.AbandonedMutexException] { $owned = $true }
if (-not $owned) {
  $ex = [System.Exception]::new('another hvsnap attach or detach has held the iSCSI lock of this host for 120 s')
  $ex.Data['hvsnap'] = @{ kind = 'hvsnap'; code = 'busy' }
  throw $ex
}
try {
  $out = [ordered]@{ disconnected = @(); handedOver = @() }
  if (Test-Path -LiteralPath $in.recordFile) {
    $own = Get-Content -LiteralPath $in.recordFile -Raw | ConvertFrom-Json
    $ownName = Split-Path -Leaf $in.recordFile
    $others = @(Get-ChildItem -LiteralPath $in.recordsDir -Filter '*.iscsi.json' -File | Where-Object { $_.Name -ne $ownName })
    $live = @(Get-IscsiSession)
    foreach ($s in @($own.sessions | Where-Object { $_.opened })) {
      $heir = $false
      foreach ($f in $others) {
        $r = Get-Content -LiteralPath $f.FullName -Raw | ConvertFrom-Json
        $hits = @($r.sessions | Where-Object { [string]$_.sessionIdentifier -eq [string]$s.sessionIdentifier })
        if ($hits.Count -eq 0) { continue }
        foreach ($h in $hits) { $h.opened = $true }
        Set-Content -LiteralPath $f.FullName -Value (ConvertTo-Json -Depth 4 -InputObject $r)
        $heir = $true
        break
      }
      if ($heir) { $out.handedOver += [string]$s.sessionIdentifier; continue }
      if (@($live | Where-Object { [string]$_.SessionIdentifier -eq [string]$s.sessionIdentifier -and $_.IsConnected }).Count -gt 0) {
        Disconnect-IscsiTarget -NodeAddress ([string]$s.iqn) -SessionIdentifier ([string]$s.sessionIdentifier) -Confirm:$false
        $out.disconnected += [string]$s.sessionIdentifier
      }
    }
    Remove-Item -LiteralPath $in.recordFile
  }
  ConvertTo-Json -Depth 4 -Compress -InputObject $out
} finally {
  $mutex.ReleaseMutex()
  $mutex.Dispose()
}
