# Connects exactly the iSCSI target(s) a presentation names and records, per presentation, the
# sessions it uses and which of them it opened, so that disconnect-iscsi.ps1 logs out only those.
# Microsoft docs for what this relies on (iSCSI module, Windows Server 2012 and later):
# - Get-IscsiTargetPortal / New-IscsiTargetPortal -TargetPortalAddress -TargetPortalPortNumber
#   (learn.microsoft.com/powershell/module/iscsi/new-iscsitargetportal; MSFT_iSCSITargetPortal.New: port 3260 by default);
# - Get-IscsiSession: MSFT_iSCSISession.SessionIdentifier, TargetNodeAddress, IsConnected
#   (learn.microsoft.com/previous-versions/windows/desktop/iscsidisc/msft-iscsisession);
# - Connect-IscsiTarget -NodeAddress -TargetPortalAddress -TargetPortalPortNumber -IsPersistent -IsMultipathEnabled,
#   which returns the session it made (MicrosoftDocs/windows-powershell-docs docset/winserver2012-ps/iscsi/Connect-IscsiTarget.md).
# Sessions are not persistent: a reboot must not bring a snapshot's target back. A session to the
# target that already exists is reused and recorded as not opened here (someone else owns it).
# A named mutex serialises attaches and detaches on this host, since they read each other's records.
# Argument (JSON): { "presentation": string, "recordFile": string, "recordsDir": string,
#   "portals": [ { "address": string, "port": int } ], "iqns": [ string ], "multipath": bool }
param([string]$InputJson)
$ErrorActionPreference = 'Stop'
$in = $InputJson | ConvertFrom-Json

function Stop-Hvsnap([string]$Code, [string]$Message) {
  $ex = [System.Exception]::new($Message)
  $ex.Data['hvsnap'] = @{ kind = 'hvsnap'; code = $Code; presentation = [string]$in.presentation }
  throw $ex
}

$mutex = [System.Threading.Mutex]::new($false, 'Global\hvsnap-iscsi')
# a holder that died without releasing leaves the mutex abandoned: WaitOne then owns it and throws to say so
try { $owned = $mutex.WaitOne(120000) } catch [System.Threading.AbandonedMutexException] { $owned = $true }
if (-not $owned) { Stop-Hvsnap 'busy' 'another hvsnap attach or detach has held the iSCSI lock of this host for 120 s' }
try {
  $previous = @()
  if (Test-Path -LiteralPath $in.recordFile) { $previous = @((Get-Content -LiteralPath $in.recordFile -Raw | ConvertFrom-Json).sessions) }
  New-Item -ItemType Directory -Force -Path $in.recordsDir | Out-Null
  $record = [ordered]@{ presentation = [string]$in.presentation; sessions = @() }
  # written after every session, so a failure part-way still leaves a record detach can undo
  function Save-Record { Set-Content -LiteralPath $in.recordFile -Value (ConvertTo-Json -Depth 4 -InputObject $record) }

  foreach ($p in @($in.portals)) {
    $known = @(Get-IscsiTargetPortal | Where-Object { [string]$_.TargetPortalAddress -eq [string]$p.address -and [int]$_.TargetPortalPortNumber -eq [int]$p.port })
    if ($known.Count -eq 0) { New-IscsiTargetPortal -TargetPortalAddress ([string]$p.address) -TargetPortalPortNumber ([uint16]$p.port) | Out-Null }
  }
  foreach ($iqn in @($in.iqns)) {
    $live = @(Get-IscsiSession | Where-Object { [string]$_.TargetNodeAddress -eq [string]$iqn -and $_.IsConnected })
    if ($live.Count -gt 0) {
      foreach ($s in $live) {
        $mine = @($previous | Where-Object { [string]$_.sessionIdentifier -eq [string]$s.SessionIdentifier -and $_.opened }).Count -gt 0
        $record.sessions += [ordered]@{ iqn = [string]$iqn; sessionIdentifier = [string]$s.SessionIdentifier; opened = $mine; portal = $null }
      }
      Save-Record
      continue
    }
    $through = @($in.portals)
    if ($through.Count -eq 0) { $through = @($null) }
    $failures = @()
    $connected = $false
    foreach ($p in $through) {
      $params = @{ NodeAddress = [string]$iqn; IsPersistent = $false }
      if ($p) { $params.TargetPortalAddress = [string]$p.address; $params.TargetPortalPortNumber = [uint16]$p.port }
      if ($in.multipath) { $params.IsMultipathEnabled = $true }
      try { $s = Connect-IscsiTarget @params } catch { $failures += "$($p.address):$($p.port): $($_.Exception.Message)"; continue }
      $portal = if ($p) { "$($p.address):$($p.port)" } else { $null }
      $record.sessions += [ordered]@{ iqn = [string]$iqn; sessionIdentifier = [string]$s.SessionIdentifier; opened = $true; portal = $portal }
      Save-Record
      $connected = $true
      if (-not $in.multipath) { break }
    }
    if (-not $connected) { Stop-Hvsnap 'proxy_failed' "could not connect iSCSI target $iqn through any portal: $($failures -join '; ')" }
  }
  Save-Record
  ConvertTo-Json -Depth 4 -Compress -InputObject ([ordered]@{ sessions = @($record.sessions) })
} finally {
  $mutex.ReleaseMutex()
  $mutex.Dispose()
}
